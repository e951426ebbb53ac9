from vajra.cli import main

raise SystemExit(main())
