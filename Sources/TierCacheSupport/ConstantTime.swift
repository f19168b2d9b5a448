/// Comparisons of secrets whose time does not say where two values differ.
public enum ConstantTime {
    /// Whether `given` equals `expected`, looking at every byte of the longer one whatever they hold.
    public static func equal(_ given: some Collection<UInt8>, _ expected: some Collection<UInt8>) -> Bool {
        var difference = UInt8(given.count == expected.count ? 0 : 1)
        var givenIndex = given.startIndex
        var expectedIndex = expected.startIndex
        for _ in 0..<max(given.count, expected.count) {
            let a = givenIndex < given.endIndex ? given[givenIndex] : 0
            let b = expectedIndex < expected.endIndex ? expected[expectedIndex] : 0
            difference |= a ^ b
            if givenIndex < given.endIndex { given.formIndex(after: &givenIndex) }
            if expectedIndex < expected.endIndex { expected.formIndex(after: &expectedIndex) }
        }
        return difference == 0
    }
}
