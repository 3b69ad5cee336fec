"""Sync Hub (seed 000): one HTTP API function, the stream history writer, the backup job and the
device-flow auth challenge trigger."""
