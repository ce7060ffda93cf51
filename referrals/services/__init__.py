"""Every write of ``referrals``: the trees (``tree``), reward plans (``plans``) and the paid
orders and refunds that pay and reverse rewards (``orders``)."""
