"""The production settings plus one extra URL (the bare baseline view); bench only."""

from karo.settings import *  # noqa: F403

ROOT_URLCONF = "bench.benchurls"
