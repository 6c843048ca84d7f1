"""The warehouse in other tools' formats: `steplens export ...` (OpenTelemetry traces)."""
