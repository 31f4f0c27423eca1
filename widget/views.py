from django.shortcuts import render


def demo_shop(request):
    return render(request, "widget/demo_shop.html")
