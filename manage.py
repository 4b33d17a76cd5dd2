#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys

# Commands that only read the code, never a database or a secret: they run without the
# production environment (SECRET_KEY is required whenever DEBUG is off).
CODE_ONLY_COMMANDS = {"makemigrations"}


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "karo.settings")
    if sys.argv[1:2] and sys.argv[1] in CODE_ONLY_COMMANDS and not os.environ.get("SECRET_KEY"):
        os.environ.setdefault("DEBUG", "true")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
