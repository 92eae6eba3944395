"""Readable pipeline names like Studio's (``adjective-noun``), unique per team."""

from __future__ import annotations

import random
from collections.abc import Container

ADJECTIVES = (
    "amber",
    "bold",
    "brisk",
    "calm",
    "clever",
    "crisp",
    "dapper",
    "eager",
    "fair",
    "fancy",
    "gentle",
    "glad",
    "grand",
    "hardy",
    "jolly",
    "keen",
    "lively",
    "lucky",
    "mellow",
    "merry",
    "nimble",
    "noble",
    "plucky",
    "proud",
    "quick",
    "quiet",
    "rapid",
    "ready",
    "shiny",
    "silent",
    "sleek",
    "smart",
    "snappy",
    "steady",
    "sunny",
    "swift",
    "tidy",
    "vivid",
    "witty",
    "zesty",
)
NOUNS = (
    "badger",
    "beacon",
    "canyon",
    "cedar",
    "comet",
    "coral",
    "delta",
    "falcon",
    "fjord",
    "forest",
    "geyser",
    "glacier",
    "harbor",
    "heron",
    "island",
    "jaguar",
    "kestrel",
    "lagoon",
    "lynx",
    "meadow",
    "meteor",
    "nebula",
    "orbit",
    "otter",
    "panda",
    "pebble",
    "prairie",
    "quasar",
    "raven",
    "reef",
    "ridge",
    "river",
    "sparrow",
    "summit",
    "tundra",
    "valley",
    "walrus",
    "willow",
    "yak",
    "zephyr",
)


def generate_name(taken: Container[str], rng: random.Random | None = None) -> str:
    """A name not in ``taken``; a numeric suffix is added once random picks keep colliding."""
    chooser = rng or random.Random()
    for _ in range(50):
        name = f"{chooser.choice(ADJECTIVES)}-{chooser.choice(NOUNS)}"
        if name not in taken:
            return name
    base = f"{chooser.choice(ADJECTIVES)}-{chooser.choice(NOUNS)}"
    suffix = 2
    while f"{base}-{suffix}" in taken:
        suffix += 1
    return f"{base}-{suffix}"
