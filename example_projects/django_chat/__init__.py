"""The chat demo as a Django project (run ``example_projects/django_chat/manage.py``)."""
