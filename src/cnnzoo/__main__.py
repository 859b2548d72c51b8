from cnnzoo.cli import main

raise SystemExit(main())
