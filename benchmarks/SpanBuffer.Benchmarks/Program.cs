using BenchmarkDotNet.Running;
using SpanBuffer.Benchmarks;

if (args.Length > 0 && args[0] == "profile-flush")
{
    return await FlushProfile.RunAsync(args[1..], Console.Out);
}

if (args.Length > 0 && args[0] == "profile-client")
{
    return ClientProfile.Run(args[1..], Console.Out);
}

if (args.Length > 0 && args[0] == "e2e")
{
    return await EndToEnd.RunAsync(args[1..], Console.Out, CancellationToken.None);
}

if (args.Length > 0 && args[0] == "chaos")
{
    return await Chaos.RunAsync(args[1..], Console.Out, CancellationToken.None);
}

BenchmarkSwitcher.FromAssembly(typeof(EndToEnd).Assembly).Run(args);
return 0;
