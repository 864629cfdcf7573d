"""The chaos run of issue 12 (``python -m bench.chaos``): real daemons SIGKILLed and
PostgreSQL restarted under live jobs, then every job accounted for (see bench/README.md).

``plan`` draws the scenario from a seed, ``host`` plays the Node server and v1, ``fleet``
runs the daemons, ``run`` drives the chaos and gathers the facts, ``tally`` classifies
them, ``report`` prints them; ``repro`` holds deterministic reproductions of the engine
bugs the run found.
"""
