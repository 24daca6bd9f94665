"""Fakes of remote providers for tests: local HTTP servers on 127.0.0.1 speaking their protocols."""
