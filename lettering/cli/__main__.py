"""`python -m lettering.cli ...`, as the tests and bench/ start the service and its workers."""

from lettering.cli import main

if __name__ == "__main__":  # pragma: no cover
    main()
