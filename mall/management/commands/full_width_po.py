"""``manage.py full_width_po``: make the Chinese catalog's punctuation full-width (，：？（）).

Run after translating new strings, before ``make messages``; tests/mall/test_i18n.py fails while a
Chinese msgstr still has ASCII punctuation."""

import re
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from common.text import full_width

START = re.compile(r'^(msgstr(?:\[\d+\])?) "(.*)"$')
MORE = re.compile(r'^"(.*)"$')


def convert(lines: list[str]) -> tuple[list[str], int]:
    out, changed, index = [], 0, 0
    while index < len(lines):
        match = START.match(lines[index])
        if not match:
            out.append(lines[index])
            index += 1
            continue
        keyword, pieces = match.group(1), [match.group(2)]
        index += 1
        while index < len(lines) and MORE.match(lines[index]):
            pieces.append(MORE.match(lines[index]).group(1))
            index += 1
        text = "".join(pieces)
        fixed = full_width(text)
        if fixed == text:
            out.append(f'{keyword} "{pieces[0]}"')
            out.extend(f'"{piece}"' for piece in pieces[1:])
        else:
            changed += 1
            out.append(f'{keyword} "{fixed}"')
    return out, changed


class Command(BaseCommand):
    help = "Make the punctuation of the Chinese translations full-width."

    def handle(self, *args, **options):
        for directory in settings.LOCALE_PATHS:
            for po in Path(directory).glob("zh_Hans/LC_MESSAGES/*.po"):
                lines, changed = convert(po.read_text(encoding="utf-8").split("\n"))
                po.write_text("\n".join(lines), encoding="utf-8")
                self.stdout.write(f"{po}: {changed} messages changed")
