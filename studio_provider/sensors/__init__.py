"""Airflow sensors for DataChain Studio."""
