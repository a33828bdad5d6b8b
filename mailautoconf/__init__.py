"""mailautoconf: mail client auto-configuration for many domains from one TOML file."""
