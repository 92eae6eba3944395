"""Airflow triggers for DataChain Studio: thin async shells around the client's waiting machinery."""
