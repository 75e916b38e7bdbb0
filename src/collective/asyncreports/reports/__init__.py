"""Report types: the IReportType contract, a base class, the registry, built-ins."""
