"""Airflow operators for DataChain Studio."""
