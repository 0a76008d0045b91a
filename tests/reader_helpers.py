"""What the reader tests share: a DataConfig from keyword values, a path as a regex."""

import re

from aegan.config import DataConfig


def config(**values):
    return DataConfig(**values)


def escaped(path):
    return re.escape(str(path))
