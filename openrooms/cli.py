"""The `openrooms` command: Django's manage.py under the product's name."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "openrooms.settings")
    if sys.argv[1:2] == ["demo"]:
        # The demo serves plain HTTP on loopback, so its cookies cannot be HTTPS-only.
        os.environ.setdefault("OPENROOMS_INSECURE_HTTP", "1")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["openrooms", *sys.argv[1:]])


if __name__ == "__main__":
    main()
