"""The AWS edge proxy: one ``aws_endpoint`` routed per service to the emulators (and faults)."""
