"""Lifecycle of the pipeline's Flink jobs: submit, wait, savepoint, resume, cancel."""

from marketpipe.jobs.manager import JobInfo, JobManager

__all__ = ["JobInfo", "JobManager"]
