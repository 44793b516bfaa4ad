namespace SpanBuffer; internal static class Placeholder { }
