from driftlib.cli import main

main()
