# cython: language_level=3
"""The compiled batched tree: B MuZero search trees in preallocated contiguous arrays.

The search is specified by `mcts/reference.py` (read its docstring for the rules: pUCT
with min-max normalised Q and the parent's mean value for unvisited children, the Gumbel
root with Sequential Halving and deterministic interior selection, backup signs, tree
reuse). This file is that search in C: every per-node quantity lives in a flat array
indexed by (tree, node) or (tree, node, action), there is no Python object per node, and
the loops over the batch run without the GIL. The floating-point expressions follow the
reference operation by operation, so both give identical visit counts.

Input checks, noise and the per-search root data (Gumbel-top-k set, Sequential Halving
schedule) come from `mcts.inputs`; the final read-out from `mcts.readout`, both shared
with the reference.
"""
import numpy as np

from libc.math cimport exp, log, sqrt, INFINITY, isfinite
from libc.stdint cimport int8_t, int32_t, int64_t, uint8_t

from mcts.config import SearchConfig, SearchOutput
from mcts.inputs import (NODE_ARRAYS, action_vector, bool_mask, check_config, check_sizes, check_take_rows,
                         prepare_roots, terminal_flags)
from mcts.readout import RootStats, build_output

cdef enum:
    UNEXPANDED = -1   # children entry of a legal action with no node yet
    ILLEGAL = -2      # children entry of an action that may never be selected

cdef enum:            # proven results (mcts.config: WIN, DRAW, LOSS, UNPROVEN)
    WIN = 1
    DRAW = 0
    LOSS = -1
    UNPROVEN = 2


cdef inline double _normalise(double q, double low, double high) noexcept nogil:
    if high > low:
        return (q - low) / (high - low)
    return q


cdef SearchParams _params(object config):
    cdef SearchParams params
    params.pb_c_init = config.pb_c_init
    params.pb_c_base = config.pb_c_base
    params.discount = config.discount
    params.sign = -1.0 if config.two_player else 1.0
    params.c_visit = config.gumbel_c_visit
    params.c_scale = config.gumbel_c_scale
    params.gumbel = config.root == "gumbel"
    params.solver = config.solver
    return params


cdef object _real_array(object values, tuple shape, str name, object dtype):
    """Fast-path conversion for the hot calls; finiteness is checked in the C loops."""
    array = np.asarray(values)
    if array.dtype.kind not in "fiu":
        raise ValueError(f"{name} must be a real-valued array, got dtype {array.dtype}")
    if array.shape != shape:
        raise ValueError(f"{name} must have shape {list(shape)}, got {list(array.shape)}")
    return np.ascontiguousarray(array, dtype=dtype)


cdef class BatchedTree:
    """B independent search trees of at most `capacity` nodes over `num_actions` actions.

    Same API and same search as `mcts.reference.ReferenceTree` (see its docstrings):
    reset_roots -> (select -> network -> expand_and_backup) x S -> output -> advance.
    """

    def __init__(self, batch_size, num_actions, capacity):
        self.batch_size, self.num_actions, self.capacity = check_sizes(batch_size, num_actions, capacity)
        cdef Py_ssize_t B = self.batch_size, A = self.num_actions, C = self.capacity
        arrays = {
            "visit_count": np.zeros((B, C), dtype=np.int32),
            "value_sum": np.zeros((B, C), dtype=np.float64),
            "reward": np.zeros((B, C), dtype=np.float64),
            "network_value": np.zeros((B, C), dtype=np.float64),
            "parent": np.full((B, C), -1, dtype=np.int32),
            "prior": np.zeros((B, C, A), dtype=np.float32),
            "children": np.full((B, C, A), ILLEGAL, dtype=np.int32),
            "proven": np.full((B, C), UNPROVEN, dtype=np.int8),
            "num_nodes": np.zeros(B, dtype=np.int64),
            "value_min": np.zeros(B, dtype=np.float64),
            "value_max": np.zeros(B, dtype=np.float64),
            "simulations_done": np.zeros(B, dtype=np.int64),
            "pending_parent": np.full(B, -1, dtype=np.int32),
            "pending_action": np.full(B, -1, dtype=np.int32),
            "scratch": np.zeros((B, 3 * A), dtype=np.float64),
        }
        self._arrays = arrays
        cdef int32_t[:, ::1] i32_2d
        cdef double[:, ::1] f64_2d
        cdef double[::1] f64_1d
        cdef int64_t[::1] i64_1d
        cdef int32_t[::1] i32_1d
        cdef float[:, :, ::1] f32_3d
        cdef int32_t[:, :, ::1] i32_3d
        cdef int8_t[:, ::1] i8_2d
        i32_2d = arrays["visit_count"]; self.visit_count = &i32_2d[0, 0]
        f64_2d = arrays["value_sum"]; self.value_sum = &f64_2d[0, 0]
        f64_2d = arrays["reward"]; self.reward = &f64_2d[0, 0]
        f64_2d = arrays["network_value"]; self.network_value = &f64_2d[0, 0]
        i32_2d = arrays["parent"]; self.parent = &i32_2d[0, 0]
        f32_3d = arrays["prior"]; self.prior = &f32_3d[0, 0, 0]
        i32_3d = arrays["children"]; self.children = &i32_3d[0, 0, 0]
        i8_2d = arrays["proven"]; self.proven = &i8_2d[0, 0]
        i64_1d = arrays["num_nodes"]; self.num_nodes = &i64_1d[0]
        f64_1d = arrays["value_min"]; self.value_min = &f64_1d[0]
        f64_1d = arrays["value_max"]; self.value_max = &f64_1d[0]
        i64_1d = arrays["simulations_done"]; self.simulations_done = &i64_1d[0]
        i32_1d = arrays["pending_parent"]; self.pending_parent = &i32_1d[0]
        i32_1d = arrays["pending_action"]; self.pending_action = &i32_1d[0]
        f64_2d = arrays["scratch"]; self.scratch = &f64_2d[0, 0]
        self.ready = False
        self.roots = None
        self.root_method = None

    # ------------------------------------------------------------------ roots
    def reset_roots(self, config, prior_logits, root_value, legal_mask, rng=None, keep_subtrees=True):
        """Prepare every root for a search (see ReferenceTree.reset_roots: same rules)."""
        config = check_config(config)
        roots = prepare_roots(config, prior_logits, root_value, legal_mask, rng, self.batch_size, self.num_actions)
        arrays = self._arrays
        num_nodes = arrays["num_nodes"]
        reuse = (num_nodes > 0) if (keep_subtrees and config.root == "puct") else np.zeros(self.batch_size, dtype=bool)
        needed = np.where(reuse, num_nodes, 1) + config.num_simulations
        too_small = np.flatnonzero(needed > self.capacity)
        if too_small.size:
            tree = int(too_small[0])
            raise ValueError(f"capacity {self.capacity} is too small: tree {tree} needs {int(needed[tree])} nodes "
                             f"for {config.num_simulations} simulations")
        fresh = ~reuse
        num_nodes[fresh] = 1
        arrays["visit_count"][fresh, 0] = 1
        arrays["value_sum"][fresh, 0] = roots.root_value[fresh]
        arrays["reward"][fresh, 0] = 0.0
        arrays["parent"][fresh, 0] = -1
        arrays["children"][fresh, 0] = UNEXPANDED
        arrays["proven"][fresh, 0] = UNPROVEN
        arrays["network_value"][:, 0] = roots.root_value
        arrays["prior"][:, 0] = roots.search_prior
        root_children = arrays["children"][:, 0]
        root_children[~roots.legal] = ILLEGAL
        root_children[roots.legal & (root_children == ILLEGAL)] = UNEXPANDED
        if config.value_bounds is None:
            arrays["value_min"][:] = np.inf
            arrays["value_max"][:] = -np.inf
        else:
            arrays["value_min"][:] = float(config.value_bounds[0])
            arrays["value_max"][:] = float(config.value_bounds[1])
        arrays["simulations_done"][:] = 0
        arrays["pending_parent"][:] = -1
        arrays["pending_action"][:] = -1

        gumbel = np.ascontiguousarray(roots.gumbel, dtype=np.float64)
        considered = np.ascontiguousarray(roots.considered, dtype=np.uint8)
        schedule = np.ascontiguousarray(roots.schedule, dtype=np.int32)
        self._root_arrays = (gumbel, considered, schedule)
        cdef double[:, ::1] gumbel_view = gumbel
        cdef uint8_t[:, ::1] considered_view = considered
        cdef int32_t[:, ::1] schedule_view = schedule
        self.gumbel = &gumbel_view[0, 0]
        self.considered = &considered_view[0, 0]
        self.schedule = &schedule_view[0, 0]
        self.schedule_length = schedule.shape[1]
        self.roots = roots
        self.root_method = config.root
        self.ready = True

    def _check_search(self, config):
        config = check_config(config)
        if not self.ready:
            raise ValueError("reset_roots must be called before searching (also after advance)")
        if config.root != self.root_method:
            raise ValueError(f"config.root is {config.root!r} but the roots were prepared for {self.root_method!r}")
        return config

    # --------------------------------------------------------------- select
    def select(self, config):
        """Descend each tree to an unexpanded edge: (parent_node int32 [B], action int32 [B])."""
        config = self._check_search(config)
        cdef SearchParams params = _params(config)
        cdef Py_ssize_t tree, B = self.batch_size, A = self.num_actions, C = self.capacity
        for tree in range(B):
            if self.pending_parent[tree] >= 0:
                raise ValueError("select called twice without expand_and_backup in between")
            if self.num_nodes[tree] >= C:
                raise ValueError(f"a tree is full (capacity {C}); create the tree with more capacity")
            if params.gumbel and self.simulations_done[tree] >= self.schedule_length:
                raise ValueError("the Gumbel search has used its num_simulations; call reset_roots")
        parents = np.empty(B, dtype=np.int32)
        actions = np.empty(B, dtype=np.int32)
        cdef int32_t[::1] parents_view = parents
        cdef int32_t[::1] actions_view = actions
        cdef Py_ssize_t node
        cdef int action
        cdef int32_t child
        with nogil:
            for tree in range(B):
                node = 0
                while True:
                    if params.gumbel:
                        if node == 0:
                            action = self._gumbel_root_action(tree, &params)
                        else:
                            action = self._gumbel_interior_action(tree, node, &params)
                    else:
                        action = self._puct_action(tree, node, &params)
                    child = self.children[(tree * C + node) * A + action]
                    if child < 0:
                        break
                    node = child
                parents_view[tree] = <int32_t>node
                actions_view[tree] = action
                self.pending_parent[tree] = <int32_t>node
                self.pending_action[tree] = action
        return parents, actions

    cdef int _child_proofs(self, Py_ssize_t tree, Py_ssize_t node, bint* any_not_lost,
                           int8_t* node_result) noexcept nogil:
        """One scan of the proofs of node's legal children (ReferenceTree._child_proofs):
        returns the lowest action whose child is a proven WIN, or -1; sets any_not_lost and
        node_result (node's own result for the player who moved into it, or UNPROVEN)."""
        cdef Py_ssize_t A = self.num_actions, C = self.capacity, action
        cdef int32_t* children = self.children + (tree * C + node) * A
        cdef int32_t child
        cdef int8_t result, best = LOSS
        cdef bint complete = True
        any_not_lost[0] = False
        for action in range(A):
            child = children[action]
            if child == ILLEGAL:
                continue
            result = self.proven[tree * C + child] if child >= 0 else UNPROVEN
            if result == WIN:
                any_not_lost[0] = True
                node_result[0] = LOSS
                return <int>action
            if result != LOSS:
                any_not_lost[0] = True
            if result == UNPROVEN:
                complete = False
            elif result > best:
                best = result
        node_result[0] = -best if complete else UNPROVEN
        return -1

    cdef void _prove(self, Py_ssize_t tree, Py_ssize_t node, double reward) noexcept nogil:
        cdef Py_ssize_t C = self.capacity, parent_node
        cdef int8_t result
        cdef bint any_not_lost
        self.proven[tree * C + node] = WIN if reward > 0.0 else (LOSS if reward < 0.0 else DRAW)
        while node != 0:
            parent_node = self.parent[tree * C + node]
            if self.proven[tree * C + parent_node] != UNPROVEN:
                return
            self._child_proofs(tree, parent_node, &any_not_lost, &result)
            if result == UNPROVEN:
                return
            self.proven[tree * C + parent_node] = result
            node = parent_node

    cdef int _puct_action(self, Py_ssize_t tree, Py_ssize_t node, SearchParams* params) noexcept nogil:
        cdef Py_ssize_t A = self.num_actions, C = self.capacity
        cdef Py_ssize_t index = tree * C + node
        cdef bint skip_lost = False
        cdef int win
        cdef int8_t node_result
        if params.solver:
            win = self._child_proofs(tree, node, &skip_lost, &node_result)
            if win >= 0:
                return win
        cdef double parent_visits = <double>self.visit_count[index]
        cdef double parent_mean = self.value_sum[index] / self.visit_count[index]
        cdef double exploration = (log((parent_visits + params.pb_c_base + 1.0) / params.pb_c_base)
                                   + params.pb_c_init) * sqrt(parent_visits)
        cdef double low = self.value_min[tree], high = self.value_max[tree]
        cdef double best_score = -INFINITY, score, q, child_visits
        cdef int best_action = -1
        cdef Py_ssize_t action, child_index
        cdef int32_t child
        cdef int32_t* children = self.children + index * A
        cdef float* prior = self.prior + index * A
        for action in range(A):
            child = children[action]
            if child == ILLEGAL or (skip_lost and child >= 0 and self.proven[tree * C + child] == LOSS):
                continue
            if child >= 0:
                child_index = tree * C + child
                q = self.reward[child_index] + params.sign * params.discount * (
                    self.value_sum[child_index] / self.visit_count[child_index])
                child_visits = <double>self.visit_count[child_index]
            else:
                q = parent_mean
                child_visits = 0.0
            score = _normalise(q, low, high) + (exploration / (1.0 + child_visits)) * <double>prior[action]
            if score > best_score:
                best_score = score
                best_action = <int>action
        return best_action

    cdef double _completed_sigma(self, Py_ssize_t tree, Py_ssize_t node, SearchParams* params,
                                 double* sigma, double* visits) noexcept nogil:
        """Fills sigma[a] (sigma of normalised completed Q; -inf if illegal) and visits[a];
        returns the total visits of the children."""
        cdef Py_ssize_t A = self.num_actions, C = self.capacity
        cdef Py_ssize_t index = tree * C + node, child_index, action
        cdef int32_t* children = self.children + index * A
        cdef float* prior = self.prior + index * A
        cdef int64_t total_visits = 0, max_visits = 0, count
        cdef double prior_mass = 0.0, weighted_q = 0.0, q, p, v_mix, scale
        cdef int32_t child
        for action in range(A):
            child = children[action]
            visits[action] = 0.0
            if child >= 0:
                child_index = tree * C + child
                count = self.visit_count[child_index]
                q = self.reward[child_index] + params.sign * params.discount * (
                    self.value_sum[child_index] / self.visit_count[child_index])
                visits[action] = <double>count
                sigma[action] = q
                total_visits += count
                if count > max_visits:
                    max_visits = count
                p = <double>prior[action]
                prior_mass += p
                weighted_q += p * q
        cdef double network_value = self.network_value[index]
        if total_visits > 0 and prior_mass > 0.0:
            v_mix = (network_value + <double>total_visits * (weighted_q / prior_mass)) / (1.0 + <double>total_visits)
        else:
            v_mix = network_value
        scale = (params.c_visit + <double>max_visits) * params.c_scale
        cdef double low = self.value_min[tree], high = self.value_max[tree]
        for action in range(A):
            child = children[action]
            if child == ILLEGAL:
                sigma[action] = -INFINITY
                continue
            q = sigma[action] if child >= 0 else v_mix
            sigma[action] = scale * _normalise(q, low, high)
        return <double>total_visits

    cdef int _gumbel_root_action(self, Py_ssize_t tree, SearchParams* params) noexcept nogil:
        cdef Py_ssize_t A = self.num_actions, action
        cdef double* sigma = self.scratch + tree * 3 * A
        cdef double* visits = sigma + A
        self._completed_sigma(tree, 0, params, sigma, visits)
        cdef double wanted_visits = <double>self.schedule[tree * self.schedule_length + self.simulations_done[tree]]
        cdef double best_score = -INFINITY, score, log_prior, fallback_visits = INFINITY
        cdef int best_action = -1, fallback_action = -1
        cdef float* prior = self.prior + tree * self.capacity * A
        for action in range(A):
            if not self.considered[tree * A + action]:
                continue
            log_prior = log(<double>prior[action]) if prior[action] > 0.0 else -INFINITY
            score = self.gumbel[tree * A + action] + log_prior + sigma[action]
            if visits[action] == wanted_visits and (best_action < 0 or score > best_score):
                best_score = score
                best_action = <int>action
            if visits[action] < fallback_visits:
                fallback_visits = visits[action]
                fallback_action = <int>action
        return best_action if best_action >= 0 else fallback_action

    cdef int _gumbel_interior_action(self, Py_ssize_t tree, Py_ssize_t node, SearchParams* params) noexcept nogil:
        cdef Py_ssize_t A = self.num_actions, action
        cdef bint skip_lost = False
        cdef int win
        cdef int8_t node_result
        if params.solver:
            win = self._child_proofs(tree, node, &skip_lost, &node_result)
            if win >= 0:
                return win
        cdef double* sigma = self.scratch + tree * 3 * A
        cdef double* visits = sigma + A
        cdef double* logits = visits + A
        cdef double total_visits = self._completed_sigma(tree, node, params, sigma, visits)
        cdef float* prior = self.prior + (tree * self.capacity + node) * A
        cdef int32_t* children = self.children + (tree * self.capacity + node) * A
        cdef double largest = -INFINITY, weight_sum = 0.0, score, best_score = -INFINITY
        cdef int best_action = -1
        for action in range(A):
            if children[action] != ILLEGAL:
                logits[action] = (log(<double>prior[action]) if prior[action] > 0.0 else -INFINITY) + sigma[action]
                if logits[action] > largest:
                    largest = logits[action]
        for action in range(A):
            if children[action] != ILLEGAL:
                logits[action] = exp(logits[action] - largest)
                weight_sum += logits[action]
        for action in range(A):
            if children[action] == ILLEGAL:
                continue
            if skip_lost and children[action] >= 0 and self.proven[tree * self.capacity + children[action]] == LOSS:
                continue
            score = logits[action] / weight_sum - visits[action] / (1.0 + total_visits)
            if best_action < 0 or score > best_score:
                best_score = score
                best_action = <int>action
        return best_action

    # ------------------------------------------------------- expand, backup
    def expand_and_backup(self, config, reward, value, prior_logits, legal_mask=None, terminal=None):
        """Attach the network's answer for each selected edge and back it up (see the reference).

        reward [B], value [B], prior_logits [B, A] (float arrays), legal_mask bool [B, A]
        used only with config.tree_legal_masks, terminal bool [B] used only with
        config.solver. Returns the new node ids int32 [B].
        """
        config = self._check_search(config)
        cdef Py_ssize_t B = self.batch_size, A = self.num_actions, C = self.capacity
        cdef Py_ssize_t tree
        for tree in range(B):
            if self.pending_parent[tree] < 0:
                raise ValueError("expand_and_backup called without a preceding select")
        rewards = _real_array(reward, (B,), "reward", np.float64)
        values = _real_array(value, (B,), "value", np.float64)
        logits = _real_array(prior_logits, (B, A), "prior_logits", np.float32)
        use_mask = False
        if legal_mask is not None:
            mask = bool_mask(legal_mask, (B, A), "legal_mask").view(np.uint8)
            use_mask = bool(config.tree_legal_masks)
        else:
            mask = np.ones((1, 1), dtype=np.uint8)
        cdef double[::1] rewards_view = rewards
        cdef double[::1] values_view = values
        cdef float[:, ::1] logits_view = logits
        cdef uint8_t[:, ::1] mask_view = mask
        ended = terminal_flags(config, terminal, B)
        cdef bint proving = ended is not None
        cdef uint8_t[::1] ended_view = ended.view(np.uint8) if proving else None
        cdef bint masked = use_mask
        cdef SearchParams params = _params(config)
        new_nodes = np.empty(B, dtype=np.int32)
        cdef int32_t[::1] new_view = new_nodes
        cdef int bad = 0
        cdef Py_ssize_t action, node, parent_node, index
        cdef double largest, weight_sum, backed_up, q, low, high
        cdef float* prior
        cdef int32_t* children
        cdef bint legal
        with nogil:
            for tree in range(B):
                if not (isfinite(rewards_view[tree]) and isfinite(values_view[tree])):
                    bad = 1
                for action in range(A):
                    if not isfinite(logits_view[tree, action]):
                        bad = 2
        if bad == 1:
            raise ValueError("reward or value contains NaN or infinite entries")
        if bad == 2:
            raise ValueError("prior_logits contains NaN or infinite entries")
        with nogil:
            for tree in range(B):
                parent_node = self.pending_parent[tree]
                node = self.num_nodes[tree]
                self.num_nodes[tree] += 1
                index = tree * C + node
                self.children[(tree * C + parent_node) * A + self.pending_action[tree]] = <int32_t>node
                self.parent[index] = <int32_t>parent_node
                self.reward[index] = rewards_view[tree]
                self.network_value[index] = values_view[tree]
                self.visit_count[index] = 0
                self.value_sum[index] = 0.0
                # softmax over legal actions, in the reference's order
                prior = self.prior + index * A
                children = self.children + index * A
                largest = -INFINITY
                for action in range(A):
                    legal = (not masked) or mask_view[tree, action]
                    if legal and <double>logits_view[tree, action] > largest:
                        largest = <double>logits_view[tree, action]
                weight_sum = 0.0
                for action in range(A):
                    legal = (not masked) or mask_view[tree, action]
                    if legal:
                        self.scratch[tree * 3 * A + action] = exp(<double>logits_view[tree, action] - largest)
                        weight_sum += self.scratch[tree * 3 * A + action]
                    else:
                        self.scratch[tree * 3 * A + action] = 0.0
                for action in range(A):
                    legal = (not masked) or mask_view[tree, action]
                    prior[action] = <float>(self.scratch[tree * 3 * A + action] / weight_sum)
                    children[action] = UNEXPANDED if legal else ILLEGAL
                new_view[tree] = <int32_t>node
                self.proven[index] = UNPROVEN
                if proving and ended_view[tree]:
                    self._prove(tree, node, rewards_view[tree])

                backed_up = values_view[tree]
                low = self.value_min[tree]
                high = self.value_max[tree]
                while True:
                    index = tree * C + node
                    self.value_sum[index] += backed_up
                    self.visit_count[index] += 1
                    if node == 0:
                        break
                    q = self.reward[index] + params.sign * params.discount * (
                        self.value_sum[index] / self.visit_count[index])
                    if q < low:
                        low = q
                    if q > high:
                        high = q
                    backed_up = self.reward[index] + params.sign * params.discount * backed_up
                    node = self.parent[index]
                self.value_min[tree] = low
                self.value_max[tree] = high
                self.simulations_done[tree] += 1
                self.pending_parent[tree] = -1
                self.pending_action[tree] = -1
        return new_nodes

    # --------------------------------------------------------------- output
    def root_stats(self, config):
        """The root arrays `mcts.readout` turns into a SearchOutput."""
        config = self._check_search(config)
        arrays = self._arrays
        cdef double sign = -1.0 if config.two_player else 1.0
        root_children = arrays["children"][:, 0]
        expanded = root_children >= 0
        safe = np.where(expanded, root_children, 0)
        rows = np.arange(self.batch_size)[:, None]
        child_visits = arrays["visit_count"][rows, safe]
        visit_counts = np.where(expanded, child_visits, 0).astype(np.int32)
        with np.errstate(invalid="ignore", divide="ignore"):
            child_mean = arrays["value_sum"][rows, safe] / child_visits
        q_values = np.where(expanded, arrays["reward"][rows, safe] + sign * config.discount * child_mean, np.nan)
        proven = np.where(expanded, arrays["proven"][rows, safe], UNPROVEN).astype(np.int8)
        root_value = arrays["value_sum"][:, 0] / arrays["visit_count"][:, 0]
        roots = self.roots
        return RootStats(visit_counts=visit_counts, q_values=q_values, root_value=root_value,
                         root_network_value=arrays["network_value"][:, 0].copy(),
                         network_prior=roots.network_prior, search_prior=arrays["prior"][:, 0].copy(),
                         legal=roots.legal, gumbel=roots.gumbel, considered=roots.considered,
                         value_min=arrays["value_min"].copy(), value_max=arrays["value_max"].copy(),
                         proven=proven)

    def output(self, config, temperature=0.0, rng=None):
        """Visit counts, root Q, root value, policy target and chosen action (see mcts.readout)."""
        return build_output(self.root_stats(config), config, temperature, rng)

    # ---------------------------------------------------------------- reuse
    def advance(self, actions):
        """Keep the subtree under each root child `actions[b]`, renumbered breadth-first.

        Returns int32 [B, capacity]: the old node id of every new node (-1 unused). A tree
        whose chosen child was never expanded becomes empty and starts fresh at reset_roots.
        """
        if self.roots is None:
            raise ValueError("advance called before any search")
        chosen = action_vector(actions, self.batch_size, self.num_actions)
        cdef Py_ssize_t B = self.batch_size, A = self.num_actions, C = self.capacity
        old_ids = np.full((B, C), -1, dtype=np.int32)
        new_ids = np.full(C, -1, dtype=np.int32)
        cdef int32_t[:, ::1] old_view = old_ids
        cdef int32_t[::1] new_view = new_ids
        cdef int32_t[::1] chosen_view = chosen
        # staging copies of one tree's node data while it is renumbered
        staged_f64 = np.empty((3, C), dtype=np.float64)
        staged_i32 = np.empty((2, C), dtype=np.int32)
        staged_proven = np.empty(C, dtype=np.int8)
        staged_prior = np.empty((C, A), dtype=np.float32)
        staged_children = np.empty((C, A), dtype=np.int32)
        cdef double[:, ::1] f64 = staged_f64
        cdef int32_t[:, ::1] i32 = staged_i32
        cdef int8_t[::1] sproven = staged_proven
        cdef float[:, ::1] sprior = staged_prior
        cdef int32_t[:, ::1] schildren = staged_children
        cdef Py_ssize_t tree, head, count, old, new, action, base
        cdef int32_t start, child
        with nogil:
            for tree in range(B):
                base = tree * C
                start = self.children[base * A + chosen_view[tree]] if self.num_nodes[tree] > 0 else -1
                if start < 0:
                    self.num_nodes[tree] = 0
                    continue
                # breadth-first order of the kept subtree, stored in old_view[tree]
                old_view[tree, 0] = start
                count = 1
                head = 0
                while head < count:
                    old = old_view[tree, head]
                    head += 1
                    for action in range(A):
                        child = self.children[(base + old) * A + action]
                        if child >= 0:
                            old_view[tree, count] = child
                            count += 1
                for new in range(count):
                    new_view[old_view[tree, new]] = <int32_t>new
                for new in range(count):
                    old = old_view[tree, new]
                    f64[0, new] = self.value_sum[base + old]
                    f64[1, new] = self.reward[base + old]
                    f64[2, new] = self.network_value[base + old]
                    i32[0, new] = self.visit_count[base + old]
                    sproven[new] = self.proven[base + old]
                    i32[1, new] = -1 if new == 0 else new_view[self.parent[base + old]]
                    for action in range(A):
                        sprior[new, action] = self.prior[(base + old) * A + action]
                        child = self.children[(base + old) * A + action]
                        schildren[new, action] = new_view[child] if child >= 0 else child
                for new in range(count):
                    self.value_sum[base + new] = f64[0, new]
                    self.reward[base + new] = f64[1, new]
                    self.network_value[base + new] = f64[2, new]
                    self.visit_count[base + new] = i32[0, new]
                    self.proven[base + new] = sproven[new]
                    self.parent[base + new] = i32[1, new]
                    for action in range(A):
                        self.prior[(base + new) * A + action] = sprior[new, action]
                        self.children[(base + new) * A + action] = schildren[new, action]
                self.num_nodes[tree] = count
        self.ready = False
        return old_ids

    def take_rows(self, rows):
        """A new tree whose row i is a copy of this tree's row ``rows[i]`` (-1: an empty row).

        The same capacity and actions; rows may repeat. Why: a batch of games shrinks as
        games end, so the trees kept for tree reuse must follow the games that go on.
        Like `advance`, the result starts its next search at reset_roots.
        """
        taken_rows = check_take_rows(rows, self.batch_size)
        cdef BatchedTree taken = BatchedTree(taken_rows.size, self.num_actions, self.capacity)
        kept = taken_rows >= 0
        source = taken_rows[kept]
        for name in NODE_ARRAYS + ("num_nodes",):
            taken._arrays[name][kept] = self._arrays[name][source]
        return taken
