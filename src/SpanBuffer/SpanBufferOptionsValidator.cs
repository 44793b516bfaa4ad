using Microsoft.Extensions.Options;

namespace SpanBuffer;

/// <summary>Attribute rules, generated at compile time.</summary>
[OptionsValidator]
internal sealed partial class SpanBufferOptionsAttributeValidator : IValidateOptions<SpanBufferOptions>
{
}

/// <summary>Attribute rules plus the rules that span several options or need more than an attribute.</summary>
internal sealed class SpanBufferOptionsValidator : IValidateOptions<SpanBufferOptions>
{
    private static readonly SpanBufferOptionsAttributeValidator s_attributes = new();

    /// <summary>What is wrong with a shard assignment (options or <see cref="SpansBuffer.AssignShards"/>): nothing, usually.</summary>
    internal static IEnumerable<string> ShardListProblems(ICollection<int> shards)
    {
        if (shards.Any(s => s < 0))
        {
            yield return "must not contain negative shards.";
        }

        if (shards.Distinct().Count() != shards.Count)
        {
            yield return "must not contain a shard twice.";
        }
    }

    public static void ThrowIfInvalid(SpanBufferOptions options, string? name = null)
    {
        var result = new SpanBufferOptionsValidator().Validate(name, options);
        if (result.Failed)
        {
            throw new OptionsValidationException(name ?? Options.DefaultName, typeof(SpanBufferOptions), result.Failures);
        }
    }

    public ValidateOptionsResult Validate(string? name, SpanBufferOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var builder = new ValidateOptionsResultBuilder();
        builder.AddResult(s_attributes.Validate(name, options));

        RequireWholeSeconds(builder, options.Timeout, nameof(SpanBufferOptions.Timeout));
        RequireWholeSeconds(builder, options.RootTimeout, nameof(SpanBufferOptions.RootTimeout));
        RequireWholeSeconds(builder, options.RedisTtl, nameof(SpanBufferOptions.RedisTtl));
        RequireWholeSeconds(builder, options.FlushLockTtl, nameof(SpanBufferOptions.FlushLockTtl));

        if (options.RootTimeout > options.Timeout)
        {
            builder.AddError($"must not be greater than Timeout ({options.Timeout}); a segment with its root would otherwise wait longer than one without.", nameof(SpanBufferOptions.RootTimeout));
        }

        if (options.RedisTtl <= options.Timeout)
        {
            builder.AddError($"must be greater than Timeout ({options.Timeout}); segments would expire before their flush deadline.", nameof(SpanBufferOptions.RedisTtl));
        }

        if (options.AssignedShards is { } shards)
        {
            foreach (var problem in ShardListProblems(shards))
            {
                builder.AddError(problem, nameof(SpanBufferOptions.AssignedShards));
            }
        }

        return builder.Build();
    }

    private static void RequireWholeSeconds(ValidateOptionsResultBuilder builder, TimeSpan value, string option)
    {
        if (value.Ticks % TimeSpan.TicksPerSecond != 0)
        {
            builder.AddError($"must be a whole number of seconds (was {value}); the buffer's clock counts whole seconds.", option);
        }
    }
}
