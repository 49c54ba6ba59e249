"""The reply form leads reach from the signed link in each update request (FastAPI + GOV.UK)."""

from integrations.web.app import create_app
from integrations.web.server import FormServer

__all__ = ["FormServer", "create_app"]
