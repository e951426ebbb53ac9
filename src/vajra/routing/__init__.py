"""Routing for every hosted node of a runtime: one pathfinder over the shared graph
(`vajra.gossip.graph`) plus invoice route hints (`pathfind.find_route`), and one
probabilistic scorer learning from every payment attempt (`scorer.Scorer`)."""
