from pathlib import Path

import pytest

from early_warning import ConfigError, load_config


def test_defaults_without_a_file() -> None:
    config = load_config(env={})
    assert config.db_path == Path("early-warning.db")
    assert config.default_subject == "BLR"
    assert (config.catalog_dir / "sources.yaml").exists()


def test_file_then_environment_override(tmp_path: Path) -> None:
    file = tmp_path / "ew.toml"
    file.write_text('[database]\npath = "x.db"\n[ingest]\nmax_file_bytes = 1000\n')
    config = load_config(file, env={"EARLY_WARNING_INGEST_MAX_FILE_BYTES": "2000"})
    assert config.db_path == tmp_path / "x.db"  # relative to the file
    assert config.get("ingest", "max_file_bytes") == 2000
    assert config.origins["ingest.max_file_bytes"] == "EARLY_WARNING_INGEST_MAX_FILE_BYTES"
    assert load_config(file, env={"EARLY_WARNING_DB": "/tmp/y.db"}).db_path == Path("/tmp/y.db")


def test_config_named_by_environment(tmp_path: Path) -> None:
    file = tmp_path / "ew.toml"
    file.write_text('[catalog]\ndefault_subject = "RUS"\n')
    assert load_config(env={"EARLY_WARNING_CONFIG": str(file)}).default_subject == "RUS"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[databse]\npath = 'x'\n", "unknown section [databse]"),
        ("[database]\npth = 'x'\n", "[database] pth: unknown key"),
        ("[ingest]\nmax_file_bytes = 'big'\n", "expected a whole number"),
        ("[mail]\nsecurity = 'ssl'\n", "'ssl' is not one of none, starttls, tls"),
        ("[mail]\nto_red = 5\n", "expected a list of text"),
        ("[mail]\npassword = 'hunter2'\n", "set the environment variable EARLY_WARNING_MAIL_PASS"),
        ("[mail\n", "invalid TOML"),
    ],
)
def test_mistakes_name_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    file = tmp_path / "bad.toml"
    file.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(file, env={})
    assert message in str(info.value) and "bad.toml" in str(info.value)


def test_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="EARLY_WARNING_INGEST_BATCH_ROWS"):
        load_config(env={"EARLY_WARNING_INGEST_BATCH_ROWS": "many"})


def test_secrets_are_masked() -> None:
    config = load_config(env={"EARLY_WARNING_MAIL_PASSWORD": "hunter2"})
    assert config.get("mail", "password") == "hunter2"
    assert config.masked()["mail"]["password"] == "***"


def test_recipient_lists_from_a_file_or_a_comma_separated_variable(tmp_path: Path) -> None:
    file = tmp_path / "mail.toml"
    file.write_text('[mail]\nto_red = ["duty@example.org", "desk@example.org"]\n')
    config = load_config(file, env={"EARLY_WARNING_MAIL_TO_WATCH": "a@example.org, b@example.org"})
    assert config.get("mail", "to_red") == ["duty@example.org", "desk@example.org"]
    assert config.get("mail", "to_watch") == ["a@example.org", "b@example.org"]


def test_mail_addresses_are_checked_when_the_settings_are_read(tmp_path: Path) -> None:
    from early_warning.alerts import MailSettings

    file = tmp_path / "mail.toml"
    file.write_text('[mail]\nto_red = ["duty@example.org", "not an address"]\n')
    with pytest.raises(ConfigError, match=r"mail.toml: \[mail\] to_red: 'not an address' is not"):
        MailSettings.from_config(load_config(file, env={}))
    file.write_text("[mail]\nmax_attempts = 0\n")
    with pytest.raises(ConfigError, match="max_attempts: at least 1"):
        MailSettings.from_config(load_config(file, env={}))


def test_unknown_environment_settings_and_bad_ports_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="EARLY_WARNING_INGEST_MAX_FIELDCHARS: unknown setting"):
        load_config(env={"EARLY_WARNING_INGEST_MAX_FIELDCHARS": "5"})
    file = tmp_path / "port.toml"
    file.write_text("[mail]\nport = 99999\n")
    with pytest.raises(ConfigError, match="between 1 and 65535"):
        load_config(file, env={})
