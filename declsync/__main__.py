from declsync.cli import main

main()
