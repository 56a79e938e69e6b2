"""The search written to be read: plain Python over numpy arrays, same API as `mcts.BatchedTree`.

This is the specification of the compiled tree. Every floating-point expression here is
computed in float64 with the same operations in the same order as in `mcts/_tree.pyx`
(scalar `math.log`/`math.exp`/`math.sqrt`, which are the C library's), so the property
tests can demand identical visit counts from both.

The search (B independent trees; node 0 is the root of each):

* Values are in [-1, 1] from the view of the player to move at the node; a node's reward
  is from the view of the player who took the action into it. The Q of action a at node
  s is ``r(a) + sign * discount * V(child)`` with sign -1 in a two-player game, +1 in a
  one-player game, and V the child's mean backed-up value.
* Every expanded node counts its own network evaluation as one visit, so a node's visit
  count is 1 + the sum of its children's visits, and the root starts with one visit.
* pUCT (MuZero): score(a) = Qn(a) + P(a) * sqrt(N(s)) / (1 + N(a)) * (c1 + log((N(s) + c2 + 1) / c2)),
  where Qn is Q normalised by the tree's min-max statistics (seeded with
  config.value_bounds; identity while max <= min). **Unvisited children** use the
  parent's mean value V(s) (its own view) as their Q, normalised the same way.
  Ties go to the lowest action id. Illegal actions are never selected.
* Gumbel root (Danihelka et al. 2022): the top m = min(legal, gumbel_max_actions) actions
  by g + logits are considered; simulation k goes to the considered action, among those
  with exactly schedule[k] visits (Sequential Halving, `mcts.inputs.halving_schedule`),
  with the highest g(a) + log P(a) + sigma(Qn_completed(a)), where
  sigma(q) = (c_visit + max_b N(b)) * c_scale * q and unvisited actions get v_mix.
* Gumbel interior: argmax of pi'(a) - N(a) / (1 + sum_b N(b)), where
  pi' = softmax(log P + sigma(Qn_completed)).
* Backup: the leaf's network value G goes up the path; each node on it adds G to its
  value sum, one visit, feeds its Q (from its parent's view) to the min-max statistics,
  and passes ``reward + sign * discount * G`` to its parent.
* Solver (``config.solver``, two-player; MCTS-Solver, Winands et al. 2008): a new node the
  caller reports as ``terminal`` (the game ended there) is proven WIN, LOSS or DRAW by the
  sign of its reward, from the view of the player who moved into it. Proofs go up: a node
  one of whose children is a proven WIN is proven LOSS (its mover wins); a node all of whose
  legal children are proven takes the negated best of them. A proven node never changes.
  Selection (pUCT and the Gumbel interior, not the Gumbel root) takes the lowest proven
  WIN child if there is one, else skips proven LOSS children unless every legal child is
  one; `mcts.readout` applies the same rule to the move played. Values back up as before.
* Tree reuse: `advance(actions)` keeps the chosen child's subtree, renumbered
  breadth-first (the new root is node 0). The next `reset_roots` keeps its statistics
  (visit counts, value sums, children) and only replaces the root prior with the new
  network prior (and fresh Dirichlet noise), drops children of actions that are now
  illegal and re-seeds the min-max statistics. Pass ``keep_subtrees=False`` to start
  fresh. A Gumbel search always starts fresh (Sequential Halving assumes unvisited roots).
"""
from __future__ import annotations

import math

import numpy as np

from mcts.config import DRAW, LOSS, UNPROVEN, WIN, SearchConfig, SearchOutput
from mcts.inputs import (NODE_ARRAYS, action_vector, check_config, check_sizes, check_take_rows, expansion_inputs,
                         prepare_roots, terminal_flags)
from mcts.readout import RootStats, build_output

UNEXPANDED = -1   # children[...] of a legal action with no node yet
ILLEGAL = -2      # children[...] of an action that may never be selected


class ReferenceTree:
    """B trees of at most `capacity` nodes over `num_actions` actions, in numpy arrays."""

    def __init__(self, batch_size: int, num_actions: int, capacity: int) -> None:
        self.batch_size, self.num_actions, self.capacity = check_sizes(batch_size, num_actions, capacity)
        shape = (self.batch_size, self.capacity)
        self.visit_count = np.zeros(shape, dtype=np.int32)
        self.value_sum = np.zeros(shape, dtype=np.float64)
        self.reward = np.zeros(shape, dtype=np.float64)
        self.network_value = np.zeros(shape, dtype=np.float64)
        self.parent = np.full(shape, -1, dtype=np.int32)
        self.prior = np.zeros(shape + (self.num_actions,), dtype=np.float32)
        self.children = np.full(shape + (self.num_actions,), ILLEGAL, dtype=np.int32)
        self.proven = np.full(shape, UNPROVEN, dtype=np.int8)   # solver: result for the player moving in
        self.num_nodes = np.zeros(self.batch_size, dtype=np.int64)
        self.value_min = np.zeros(self.batch_size, dtype=np.float64)
        self.value_max = np.zeros(self.batch_size, dtype=np.float64)
        self.simulations_done = np.zeros(self.batch_size, dtype=np.int64)
        self.pending = np.full((self.batch_size, 2), -1, dtype=np.int64)   # (parent, action) after select
        self.roots = None            # mcts.inputs.RootInputs of the current search
        self.root_method = None      # config.root at reset_roots
        self.ready = False

    # ------------------------------------------------------------------ roots
    def reset_roots(self, config: SearchConfig, prior_logits, root_value, legal_mask, rng=None,
                    keep_subtrees: bool = True) -> None:
        """Prepare every root for a search of config.num_simulations simulations.

        prior_logits float32 [B, A], root_value float32 [B], legal_mask bool [B, A]; `rng`
        (numpy Generator) is required when the search draws noise. Trees holding a subtree
        from `advance` keep it (pUCT only) unless keep_subtrees is False.
        """
        config = check_config(config)
        roots = prepare_roots(config, prior_logits, root_value, legal_mask, rng,
                              self.batch_size, self.num_actions)
        for tree in range(self.batch_size):
            reuse = keep_subtrees and config.root == "puct" and self.num_nodes[tree] > 0
            needed = (self.num_nodes[tree] if reuse else 1) + config.num_simulations
            if needed > self.capacity:
                raise ValueError(f"capacity {self.capacity} is too small: tree {tree} needs {needed} nodes "
                                 f"for {config.num_simulations} simulations")
        for tree in range(self.batch_size):
            reuse = keep_subtrees and config.root == "puct" and self.num_nodes[tree] > 0
            if not reuse:
                self.num_nodes[tree] = 1
                self.visit_count[tree, 0] = 1
                self.value_sum[tree, 0] = roots.root_value[tree]
                self.reward[tree, 0] = 0.0
                self.parent[tree, 0] = -1
                self.children[tree, 0] = UNEXPANDED
                self.proven[tree, 0] = UNPROVEN
            self.network_value[tree, 0] = roots.root_value[tree]
            self.prior[tree, 0] = roots.search_prior[tree]
            for action in range(self.num_actions):
                if not roots.legal[tree, action]:
                    self.children[tree, 0, action] = ILLEGAL
                elif self.children[tree, 0, action] == ILLEGAL:
                    self.children[tree, 0, action] = UNEXPANDED
            if config.value_bounds is None:
                self.value_min[tree], self.value_max[tree] = math.inf, -math.inf
            else:
                self.value_min[tree], self.value_max[tree] = (float(v) for v in config.value_bounds)
        self.simulations_done[:] = 0
        self.pending[:] = -1
        self.roots = roots
        self.root_method = config.root
        self.ready = True

    # --------------------------------------------------------------- select
    def _check_search(self, config: SearchConfig) -> SearchConfig:
        config = check_config(config)
        if not self.ready:
            raise ValueError("reset_roots must be called before searching (also after advance)")
        if config.root != self.root_method:
            raise ValueError(f"config.root is {config.root!r} but the roots were prepared for {self.root_method!r}")
        return config

    def select(self, config: SearchConfig) -> tuple[np.ndarray, np.ndarray]:
        """Descend each tree to an unexpanded edge: (parent_node int32 [B], action int32 [B])."""
        config = self._check_search(config)
        if (self.pending[:, 0] >= 0).any():
            raise ValueError("select called twice without expand_and_backup in between")
        if (self.num_nodes >= self.capacity).any():
            raise ValueError(f"a tree is full (capacity {self.capacity}); create the tree with more capacity")
        if config.root == "gumbel" and (self.simulations_done >= self.roots.schedule.shape[1]).any():
            raise ValueError("the Gumbel search has used its num_simulations; call reset_roots")
        parents = np.empty(self.batch_size, dtype=np.int32)
        actions = np.empty(self.batch_size, dtype=np.int32)
        for tree in range(self.batch_size):
            node = 0
            while True:
                if node == 0 and config.root == "gumbel":
                    action = self._gumbel_root_action(tree, config)
                elif config.root == "gumbel":
                    action = self._gumbel_interior_action(tree, node, config)
                else:
                    action = self._puct_action(tree, node, config)
                child = self.children[tree, node, action]
                if child < 0:
                    break
                node = int(child)
            parents[tree], actions[tree] = node, action
            self.pending[tree] = (node, action)
        return parents, actions

    def _normalise(self, tree: int, q: float) -> float:
        low, high = self.value_min[tree], self.value_max[tree]
        if high > low:
            return (q - low) / (high - low)
        return q

    def _child_q(self, tree: int, child: int, config: SearchConfig) -> float:
        sign = -1.0 if config.two_player else 1.0
        mean_value = self.value_sum[tree, child] / self.visit_count[tree, child]
        return self.reward[tree, child] + sign * config.discount * mean_value

    def _child_proofs(self, tree: int, node: int) -> tuple[int, bool, int]:
        """One scan of the proofs of ``node``'s legal children: (the lowest action whose child
        is a proven WIN, or -1; whether some child is not proven LOSS, so that selection may
        skip the lost ones; ``node``'s own result for the player who moved into it: LOSS if a
        child wins, else the negated best result once every child is proven, else UNPROVEN)."""
        best, any_not_lost, complete = LOSS, False, True
        for action in range(self.num_actions):
            child = int(self.children[tree, node, action])
            if child == ILLEGAL:
                continue
            result = int(self.proven[tree, child]) if child >= 0 else UNPROVEN
            if result == WIN:
                return action, True, LOSS
            if result != LOSS:
                any_not_lost = True
            if result == UNPROVEN:
                complete = False
            elif result > best:
                best = result
        return -1, any_not_lost, (-best if complete else UNPROVEN)

    def _puct_action(self, tree: int, node: int, config: SearchConfig) -> int:
        skip_lost = False
        if config.solver:
            win, skip_lost, _ = self._child_proofs(tree, node)
            if win >= 0:
                return win
        parent_visits = float(self.visit_count[tree, node])
        parent_mean = self.value_sum[tree, node] / self.visit_count[tree, node]
        exploration = (math.log((parent_visits + config.pb_c_base + 1.0) / config.pb_c_base)
                       + config.pb_c_init) * math.sqrt(parent_visits)
        best_score, best_action = -math.inf, -1
        for action in range(self.num_actions):
            child = int(self.children[tree, node, action])
            if child == ILLEGAL or (skip_lost and child >= 0 and self.proven[tree, child] == LOSS):
                continue
            if child >= 0:
                q = self._child_q(tree, child, config)
                child_visits = float(self.visit_count[tree, child])
            else:
                q, child_visits = parent_mean, 0.0
            score = self._normalise(tree, q) + (exploration / (1.0 + child_visits)) * float(self.prior[tree, node, action])
            if score > best_score:
                best_score, best_action = score, action
        return best_action

    def _completed_sigma(self, tree: int, node: int, config: SearchConfig) -> tuple[list, list, int]:
        """sigma(normalised completed Q) per action (None if illegal), visits per action, total visits."""
        visits = [0] * self.num_actions
        q_values = [0.0] * self.num_actions
        total_visits, max_visits = 0, 0
        prior_mass, weighted_q = 0.0, 0.0
        for action in range(self.num_actions):
            child = int(self.children[tree, node, action])
            if child >= 0:
                count = int(self.visit_count[tree, child])
                q = self._child_q(tree, child, config)
                visits[action], q_values[action] = count, q
                total_visits += count
                max_visits = max(max_visits, count)
                prior = float(self.prior[tree, node, action])
                prior_mass += prior
                weighted_q += prior * q
        network_value = self.network_value[tree, node]
        if total_visits > 0 and prior_mass > 0.0:
            v_mix = (network_value + total_visits * (weighted_q / prior_mass)) / (1.0 + total_visits)
        else:
            v_mix = network_value
        scale = (config.gumbel_c_visit + max_visits) * config.gumbel_c_scale
        sigma = [None] * self.num_actions
        for action in range(self.num_actions):
            child = int(self.children[tree, node, action])
            if child == ILLEGAL:
                continue
            q = q_values[action] if child >= 0 else v_mix
            sigma[action] = scale * self._normalise(tree, q)
        return sigma, visits, total_visits

    def _log_prior(self, tree: int, node: int, action: int) -> float:
        prior = float(self.prior[tree, node, action])
        return math.log(prior) if prior > 0.0 else -math.inf

    def _gumbel_root_action(self, tree: int, config: SearchConfig) -> int:
        sigma, visits, _ = self._completed_sigma(tree, 0, config)
        wanted_visits = int(self.roots.schedule[tree, self.simulations_done[tree]])
        best_score, best_action = -math.inf, -1
        fallback_visits, fallback_action = None, -1
        for action in range(self.num_actions):
            if not self.roots.considered[tree, action]:
                continue
            score = float(self.roots.gumbel[tree, action]) + self._log_prior(tree, 0, action) + sigma[action]
            if visits[action] == wanted_visits and (best_action < 0 or score > best_score):
                best_score, best_action = score, action
            if fallback_visits is None or visits[action] < fallback_visits:
                fallback_visits, fallback_action = visits[action], action
        # The schedule always offers an eligible action on a fresh root; the fallback (the
        # least visited considered action) only guards against misuse.
        return best_action if best_action >= 0 else fallback_action

    def _gumbel_interior_action(self, tree: int, node: int, config: SearchConfig) -> int:
        skip_lost = False
        if config.solver:
            win, skip_lost, _ = self._child_proofs(tree, node)
            if win >= 0:
                return win
        sigma, visits, total_visits = self._completed_sigma(tree, node, config)
        logits = [-math.inf] * self.num_actions
        largest = -math.inf
        for action in range(self.num_actions):
            if sigma[action] is not None:
                logits[action] = self._log_prior(tree, node, action) + sigma[action]
                largest = max(largest, logits[action])
        weights = [0.0] * self.num_actions
        weight_sum = 0.0
        for action in range(self.num_actions):
            if sigma[action] is not None:
                weights[action] = math.exp(logits[action] - largest)
                weight_sum += weights[action]
        best_score, best_action = -math.inf, -1
        for action in range(self.num_actions):
            if sigma[action] is None:
                continue
            child = int(self.children[tree, node, action])
            if skip_lost and child >= 0 and self.proven[tree, child] == LOSS:
                continue
            score = weights[action] / weight_sum - visits[action] / (1.0 + total_visits)
            if best_action < 0 or score > best_score:
                best_score, best_action = score, action
        return best_action

    # ------------------------------------------------------- expand, backup
    def expand_and_backup(self, config: SearchConfig, reward, value, prior_logits, legal_mask=None,
                          terminal=None) -> np.ndarray:
        """Attach the network's answer for each selected edge and back it up.

        reward float32 [B] (view of the player who took the action), value float32 [B]
        (view of the player to move at the new node), prior_logits float32 [B, A],
        legal_mask bool [B, A] used only with config.tree_legal_masks, terminal bool [B]
        (the game ended at the new node) used only with config.solver. Returns the new
        node ids int32 [B].
        """
        config = self._check_search(config)
        if (self.pending[:, 0] < 0).any():
            raise ValueError("expand_and_backup called without a preceding select")
        rewards, values, logits, legal = expansion_inputs(config, reward, value, prior_logits, legal_mask,
                                                          self.batch_size, self.num_actions)
        ended = terminal_flags(config, terminal, self.batch_size)
        sign = -1.0 if config.two_player else 1.0
        new_nodes = np.empty(self.batch_size, dtype=np.int32)
        for tree in range(self.batch_size):
            parent, action = (int(x) for x in self.pending[tree])
            node = int(self.num_nodes[tree])
            self.num_nodes[tree] += 1
            self.children[tree, parent, action] = node
            self.parent[tree, node] = parent
            self.reward[tree, node] = rewards[tree]
            self.network_value[tree, node] = values[tree]
            self.visit_count[tree, node] = 0
            self.value_sum[tree, node] = 0.0
            self._set_prior(tree, node, logits[tree], legal[tree])
            self.proven[tree, node] = UNPROVEN
            new_nodes[tree] = node
            if ended is not None and ended[tree]:
                self._prove(tree, node, float(rewards[tree]))

            backed_up = float(values[tree])
            while True:
                self.value_sum[tree, node] += backed_up
                self.visit_count[tree, node] += 1
                if node == 0:
                    break
                q = self._child_q(tree, node, config)
                self.value_min[tree] = min(self.value_min[tree], q)
                self.value_max[tree] = max(self.value_max[tree], q)
                backed_up = self.reward[tree, node] + sign * config.discount * backed_up
                node = int(self.parent[tree, node])
            self.simulations_done[tree] += 1
        self.pending[:] = -1
        return new_nodes

    def _prove(self, tree: int, node: int, reward: float) -> None:
        """The game ended at ``node``: prove it by its reward, then its ancestors while they
        become proven (stopping at one already proven: proofs are final)."""
        self.proven[tree, node] = WIN if reward > 0.0 else (LOSS if reward < 0.0 else DRAW)
        while node != 0:
            parent = int(self.parent[tree, node])
            if self.proven[tree, parent] != UNPROVEN:
                return
            _, _, result = self._child_proofs(tree, parent)
            if result == UNPROVEN:
                return
            self.proven[tree, parent] = result
            node = parent

    def _set_prior(self, tree: int, node: int, logits: np.ndarray, legal: np.ndarray) -> None:
        """Softmax over legal actions, scalar float64 loop (the order the Cython tree uses)."""
        largest = -math.inf
        for action in range(self.num_actions):
            if legal[action]:
                largest = max(largest, float(logits[action]))
        weights = [0.0] * self.num_actions
        weight_sum = 0.0
        for action in range(self.num_actions):
            if legal[action]:
                weights[action] = math.exp(float(logits[action]) - largest)
                weight_sum += weights[action]
        for action in range(self.num_actions):
            self.prior[tree, node, action] = weights[action] / weight_sum
            self.children[tree, node, action] = UNEXPANDED if legal[action] else ILLEGAL

    # --------------------------------------------------------------- output
    def root_stats(self, config: SearchConfig) -> RootStats:
        """The root arrays `mcts.readout` turns into a SearchOutput."""
        config = self._check_search(config)
        visit_counts = np.zeros((self.batch_size, self.num_actions), dtype=np.int32)
        q_values = np.full((self.batch_size, self.num_actions), np.nan, dtype=np.float64)
        proven = np.full((self.batch_size, self.num_actions), UNPROVEN, dtype=np.int8)
        root_value = np.empty(self.batch_size, dtype=np.float64)
        for tree in range(self.batch_size):
            for action in range(self.num_actions):
                child = int(self.children[tree, 0, action])
                if child >= 0:
                    visit_counts[tree, action] = self.visit_count[tree, child]
                    q_values[tree, action] = self._child_q(tree, child, config)
                    proven[tree, action] = self.proven[tree, child]
            root_value[tree] = self.value_sum[tree, 0] / self.visit_count[tree, 0]
        return RootStats(visit_counts=visit_counts, q_values=q_values, root_value=root_value,
                         root_network_value=self.network_value[:, 0].copy(),
                         network_prior=self.roots.network_prior, search_prior=self.prior[:, 0].copy(),
                         legal=self.roots.legal, gumbel=self.roots.gumbel, considered=self.roots.considered,
                         value_min=self.value_min.copy(), value_max=self.value_max.copy(), proven=proven)

    def output(self, config: SearchConfig, temperature: float = 0.0, rng=None) -> SearchOutput:
        """Visit counts, root Q, root value, policy target and chosen action (see mcts.readout)."""
        return build_output(self.root_stats(config), config, temperature, rng)

    # ---------------------------------------------------------------- reuse
    def advance(self, actions) -> np.ndarray:
        """Keep the subtree under each tree's root child `actions[b]` as its new tree.

        Returns int32 [B, capacity]: the old node id of every new node (-1 for unused
        slots), so the caller can gather hidden states. A tree whose chosen child was
        never expanded becomes empty (all -1) and starts fresh at the next reset_roots.
        """
        if self.roots is None:
            raise ValueError("advance called before any search")
        chosen = action_vector(actions, self.batch_size, self.num_actions)
        old_ids = np.full((self.batch_size, self.capacity), -1, dtype=np.int32)
        for tree in range(self.batch_size):
            start = int(self.children[tree, 0, chosen[tree]])
            if start < 0 or self.num_nodes[tree] == 0:
                self.num_nodes[tree] = 0
                continue
            order = [start]          # breadth-first: parents before children
            for old in order:
                for action in range(self.num_actions):
                    child = int(self.children[tree, old, action])
                    if child >= 0:
                        order.append(child)
            new_id = {old: new for new, old in enumerate(order)}
            kept = np.asarray(order, dtype=np.int64)
            old_children = self.children[tree, kept].copy()
            old_parents = self.parent[tree, kept].copy()
            for array in (self.visit_count, self.value_sum, self.reward, self.network_value, self.prior,
                          self.proven):
                array[tree, :len(order)] = array[tree, kept].copy()
            for new in range(len(order)):
                self.parent[tree, new] = -1 if new == 0 else new_id[int(old_parents[new])]
                for action in range(self.num_actions):
                    child = int(old_children[new, action])
                    self.children[tree, new, action] = new_id[child] if child >= 0 else child
            self.num_nodes[tree] = len(order)
            old_ids[tree, :len(order)] = kept
        self.ready = False
        return old_ids

    def take_rows(self, rows) -> "ReferenceTree":
        """A new tree whose tree i is a copy of this one's tree ``rows[i]`` (-1: an empty tree).

        Same capacity and actions; rows may repeat. For tree reuse in a batch of games that
        shrinks as games end. The result starts its next search at reset_roots.
        """
        taken_rows = check_take_rows(rows, self.batch_size)
        taken = ReferenceTree(taken_rows.size, self.num_actions, self.capacity)
        kept = taken_rows >= 0
        for name in NODE_ARRAYS + ("num_nodes",):
            getattr(taken, name)[kept] = getattr(self, name)[taken_rows[kept]]
        return taken
