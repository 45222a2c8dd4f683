"""`python -m zeptui`: the same as the `zeptui` command."""

from zeptui.cli import run

if __name__ == "__main__":
    run()
