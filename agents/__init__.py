"""The library's agents, each defined by one module and found through its record (`tdjepa.agent.AgentRecord`).

Adding an agent: write `agents/<name>.py` with its class, default config, presets and `RECORD`, and add the
module to `RECORDS` below. Everything else (CLIs, presets, benchmark, tests) reads the records.
"""

import ml_collections

from agents import fb, fb_cpr, td_jepa
from tdjepa.agent import AgentRecord, ZeroShotAgent

RECORDS: dict[str, AgentRecord] = {module.RECORD.name: module.RECORD for module in (td_jepa, fb, fb_cpr)}
NAMES = tuple(RECORDS)


def record(name: str) -> AgentRecord:
    """The record of agent `name`; an unknown name is refused with the accepted ones."""
    if name not in RECORDS:
        raise ValueError(f"unknown agent {name!r}; accepted values: {', '.join(NAMES)}")
    return RECORDS[name]


def default_config(name: str) -> ml_collections.ConfigDict:
    """The config of the agent the default command trains (its `cpu` preset)."""
    return record(name).default_config()


def make(name: str, config: ml_collections.ConfigDict | None = None) -> ZeroShotAgent:
    """Builds agent `name` from `config` (its default config when None)."""
    return record(name).make(config)


def preset_names() -> tuple[str, ...]:
    """Every preset name some agent defines, in the order the agents define them."""
    return tuple(dict.fromkeys(p for r in RECORDS.values() for p in r.presets))
