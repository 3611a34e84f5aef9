"""After training, the served model: the OpenAI client (client.py), `chat`, `batch` and `bench-serve`."""
