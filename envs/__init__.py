"""Environments and offline datasets; `envs.ogbench` holds the OGBench loaders, generator and tasks."""
