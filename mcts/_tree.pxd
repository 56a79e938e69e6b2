# The compiled batched tree: B trees in preallocated contiguous arrays (see _tree.pyx).
from libc.stdint cimport int8_t, int32_t, int64_t, uint8_t


cdef struct SearchParams:
    # The numbers of a SearchConfig that the hot loops need, copied once per call.
    double pb_c_init
    double pb_c_base
    double discount
    double sign              # -1 two-player, +1 one-player
    double c_visit
    double c_scale
    bint gumbel
    bint solver              # proven results steer selection (SearchConfig.solver)


cdef class BatchedTree:
    cdef readonly Py_ssize_t batch_size
    cdef readonly Py_ssize_t num_actions
    cdef readonly Py_ssize_t capacity
    cdef object root_method
    cdef object roots
    cdef bint ready

    # numpy arrays own the memory; the pointers below alias them.
    cdef object _arrays
    cdef int32_t* visit_count       # [B, cap]
    cdef double* value_sum          # [B, cap]
    cdef double* reward             # [B, cap]
    cdef double* network_value      # [B, cap]
    cdef int32_t* parent            # [B, cap]
    cdef float* prior               # [B, cap, A]
    cdef int32_t* children          # [B, cap, A]; -1 unexpanded, -2 illegal
    cdef int8_t* proven             # [B, cap]; solver result for the player moving in, or UNPROVEN
    cdef int64_t* num_nodes         # [B]
    cdef double* value_min          # [B]
    cdef double* value_max          # [B]
    cdef int64_t* simulations_done  # [B]
    cdef int32_t* pending_parent    # [B]
    cdef int32_t* pending_action    # [B]
    cdef double* scratch            # [B, 3 * A] per-tree workspace for Gumbel scores

    # per-search root data (Gumbel), refreshed at reset_roots
    cdef object _root_arrays
    cdef double* gumbel             # [B, A]
    cdef uint8_t* considered        # [B, A]
    cdef int32_t* schedule          # [B, S]
    cdef Py_ssize_t schedule_length

    cdef int _child_proofs(self, Py_ssize_t tree, Py_ssize_t node, bint* any_not_lost,
                           int8_t* node_result) noexcept nogil
    cdef void _prove(self, Py_ssize_t tree, Py_ssize_t node, double reward) noexcept nogil
    cdef int _puct_action(self, Py_ssize_t tree, Py_ssize_t node, SearchParams* params) noexcept nogil
    cdef double _completed_sigma(self, Py_ssize_t tree, Py_ssize_t node, SearchParams* params,
                                 double* sigma, double* visits) noexcept nogil
    cdef int _gumbel_root_action(self, Py_ssize_t tree, SearchParams* params) noexcept nogil
    cdef int _gumbel_interior_action(self, Py_ssize_t tree, Py_ssize_t node, SearchParams* params) noexcept nogil
