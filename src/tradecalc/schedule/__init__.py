"""The tariff schedule as data: frozen models, YAML loading, checks, validation, product-list
files and the on-disk cache."""
