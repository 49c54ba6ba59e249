from chaser.cli import main

main()
