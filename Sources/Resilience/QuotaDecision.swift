/// The outcome of asking a quota for room.
public enum QuotaDecision<Value> {
    case granted(Value)
    case refused(QuotaRefusal)
}

extension QuotaDecision: Sendable where Value: Sendable {}
extension QuotaDecision: Equatable where Value: Equatable {}
extension QuotaDecision: Hashable where Value: Hashable {}
