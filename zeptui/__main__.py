"""`python -m zeptui`: the same as the `zeptui` command."""

from zeptui.cli import main

if __name__ == "__main__":
    main()
