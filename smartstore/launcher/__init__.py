"""The launcher: `smartstore <command>`, the demo, the embedded broker and child processes."""
