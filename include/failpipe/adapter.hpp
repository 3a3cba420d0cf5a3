/// @file adapter.hpp
/// @brief AdapterInterface: the full broker contract — the broker core (BrokerAdapter) and the
/// inspection side (InspectionAdapter) in one object, with the capabilities it declares
/// (AdapterCapabilities). Nothing above it knows which broker is below. See docs/adapters.md.
///
/// Thread safety: every implementation shipped with failpipe is safe to share between threads
/// (one adapter, many workers). Errors surface as failpipe::AdapterError subclasses, never as a
/// silent false.
#pragma once

#include "failpipe/adapter_capabilities.hpp"
#include "failpipe/broker_adapter.hpp"
#include "failpipe/inspection_adapter.hpp"

namespace failpipe {

/// @brief The broker contract: core and inspection. See DESIGN.md, "AdapterInterface", and docs/adapters.md.
class AdapterInterface : public BrokerAdapter, public InspectionAdapter {
public:
    /// @brief What this adapter offers. The default declares everything (AdapterCapabilities::all(),
    /// no size limit): an adapter that leaves an inspection operation to its default (which throws
    /// UnsupportedCapabilityError), or whose core lacks a guarantee, must override it.
    AdapterCapabilities capabilities() const override;
};

}  // namespace failpipe
