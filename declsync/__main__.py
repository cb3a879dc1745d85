from declsync.cli.main import main

main()
