"""How photos reach the queue and results leave it: hot folder, local trigger, job files."""
