"""pandas helpers: optional, pandas is not a dependency of the client."""


def _pandas():
    try:
        import pandas
    except ImportError as e:
        raise ImportError("impulse_client.to_dataframe needs pandas, which is not installed "
                          "(Debian: apt-get install python3-pandas; a venv: pip install pandas)") from e
    return pandas


def to_dataframe(rows):
    """A pandas DataFrame of `rows` (dicts, e.g. from Client.read or Client.tail(follow=False)),
    one column per key in first-seen order. ImportError with the way to install pandas when it
    is absent."""
    pd = _pandas()
    return pd.DataFrame.from_records(list(rows))
