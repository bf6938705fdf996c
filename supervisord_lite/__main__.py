from supervisord_lite.cli import main

raise SystemExit(main())
