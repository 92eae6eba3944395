"""Studio job that always fails: a row the script cannot parse."""

print("bad_input: parsing rows")
raise ValueError("row 17: population 'n/a' is not a number")
