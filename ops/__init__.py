"""Operations: the gauges /metrics reads from the packages at scrape time."""
