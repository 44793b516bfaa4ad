namespace SpanBuffer.Models; internal static class Placeholder { }
