"""Interpretability on committed weights: interventions (hooks, patches, ablations) -> readout
(the digit readout) -> mechanism (attention stage, order direction) -> circuits (neuron sets);
inside (the measures of a model that sweeps report)."""
